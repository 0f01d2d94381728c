"""Observing a deployed stack: its versions' workloads and pods, its aliases' routes, their traffic.

`status.read_status` joins what config and state say (`declared`) with what the cluster holds
(`cluster`, parsed by `workloads` and `routes`) and what the router's metrics say (`traffic`, from
`promql` queries through `prometheus`) into one model (`model`), which the command line prints
(`table`, or its JSON), the console renders and alias promotion judges. `logs` reads pods' logs.
"""
