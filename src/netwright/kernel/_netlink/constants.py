"""rtnetlink's numbers and fixed headers, as the kernel's uapi headers spell them.

Why it exists: the encoders, the decoders, the fast parser and the socket all speak
in these; one module holds them so that none of those imports another for a number.
"""

from __future__ import annotations

import socket
import struct

U32 = struct.Struct("=I")
BE16 = struct.Struct(">H")
I32 = struct.Struct("=i")

# netlink
NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_DUMP_INTR = 0x10
NLM_F_DUMP = 0x300
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_APPEND = 0x800
NLM_F_CAPPED = 0x100
NLM_F_ACK_TLVS = 0x200
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NLMSGERR_ATTR_MSG = 1

# rtnetlink message types
RTM_NEWLINK = 16
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_DELADDR = 21
RTM_GETADDR = 22
RTM_NEWROUTE = 24
RTM_DELROUTE = 25
RTM_GETROUTE = 26
RTM_NEWNEIGH = 28
RTM_DELNEIGH = 29
RTM_GETNEIGH = 30
RTM_NEWNEXTHOP = 104
RTM_DELNEXTHOP = 105
RTM_GETNEXTHOP = 106

# links
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_MASTER = 10
IFLA_LINKINFO = 18
IFLA_IFALIAS = 20
IFLA_EXT_MASK = 29
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
IFLA_VXLAN_ID = 1
IFLA_VXLAN_LINK = 3
IFLA_VXLAN_LOCAL = 4
IFLA_VXLAN_LEARNING = 7
IFLA_VXLAN_PORT = 15
IFLA_VXLAN_LOCAL6 = 17
RTEXT_FILTER_SKIP_STATS = 1 << 3
IFF_UP = 0x1

# addresses
IFA_ADDRESS = 1
IFA_LOCAL = 2

# routes
RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_PRIORITY = 6
RTA_PREFSRC = 7
RTA_MULTIPATH = 9
RTA_TABLE = 15
RTA_NH_ID = 30
RTN_UNSPEC = 0
RTN_UNICAST = 1
RTM_F_CLONED = 0x200  # a route cache entry (rtm_flags), not a route anyone made
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RT_SCOPE_NOWHERE = 255
RTNH_F_ONLINK = 4
RT_TABLE_UNSPEC = 0

# nexthop objects
NHA_ID = 1
NHA_GROUP = 2
NHA_BLACKHOLE = 4
NHA_OIF = 5
NHA_GATEWAY = 6

# neighbours and fdb
NDA_DST = 1
NDA_LLADDR = 2
NUD_PERMANENT = 0x80
NTF_SELF = 0x02
AF_BRIDGE = 7

HDR = struct.Struct("=IHHII")
IFINFOMSG = struct.Struct("=BxHiII")
IFADDRMSG = struct.Struct("=BBBBI")
RTMSG = struct.Struct("=BBBBBBBBI")
NHMSG = struct.Struct("=BBBBI")
NDMSG = struct.Struct("=BBHiHBB")
RTA = struct.Struct("=HH")

FAMILY = {4: socket.AF_INET, 6: socket.AF_INET6}
INET = (socket.AF_INET, socket.AF_INET6)


Message = tuple[int, int, bytes]
#: Dumped messages sharing one header, back to back: (buffer, first payload start,
#: count, payload length); see `Socket.dump_runs`.
Run = tuple[bytes, int, int, int]
