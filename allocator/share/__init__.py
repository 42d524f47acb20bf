"""Fair shares: how much of each GPU type each job and tenant should get, under a policy
over the job x GPU-type allocation matrix (Gavel), optionally solved in parts (POP).

`inputs` (jobs, rates, weights, demand, the fleet by type; from an inventory), `gavel`
(jobs from Gavel's measured throughputs), `policies` (each policy's program, the math in
its docstring), `partition` (POP), `result` (figures, the JSON document, tables), `run`
(the stage as one call).
"""
