"""Inventories from the planners operators already run, and plans back to them.

`kubernetes` reads `kubectl get nodes/pods -o json` and writes pinned pod manifests;
`slurm` reads `scontrol show node -o` and `squeue --json` and writes node lists;
`skypilot` adds task files to an inventory as workloads; `openb` reads the Alibaba GPU
trace; `roadef` reads and writes the ROADEF/EURO 2012 machine-reassignment files. Each
import returns the inventory with warnings that list what the source says and the format
cannot express.
"""
