"""`netwright controller`: IPBlocks and NodeNetworkConfigs from the API's objects (kopf).

`deciding` is pure (what to write, from a snapshot of the API); `reconciling` keeps the
snapshot and sends the writes; `handlers` registers kopf's handlers; `running` is the
command line's entry. Only this package and `netwright.agent` import kopf.
"""
