"""Slurm: `scontrol show node -o` and `squeue --json` in, node lists and `scontrol` lines out."""

from allocator.interop.slurm.export import export_slurm
from allocator.interop.slurm.importer import SlurmImport, import_slurm

__all__ = ["SlurmImport", "export_slurm", "import_slurm"]
