"""`dynref demo`: a 5-node local cluster under a concurrent workload and faults, then checked."""
