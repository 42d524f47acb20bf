"""Many instances at once, unattended: the nightly batch and what-if sweeps.

`inputs` finds the instances, `engines` runs them (a local process pool or Dask), `job`
is what a worker does with one, `runner` coordinates and writes every output, `events`
is the event log, `summary` what a batch did, `sweep` expands one inventory into
scenarios.
"""
