"""`netwright agent`: one per node, keeps the node as its NodeNetworkConfig says (kopf).

`deciding` is pure (the spec from the API's objects, drift, the status); `running`
registers kopf's handlers and runs `netwright.provisioning.provision` on events and on
a timer. Only this package and `netwright.controller` import kopf.
"""
