"""The GPUs that cloud providers' names imply, for nodes nothing else labels.

GKE labels each GPU node with `cloud.google.com/gke-accelerator`; EKS, AKS and GKE set
`node.kubernetes.io/instance-type` to the machine type, and Slurm prints a cloud node's
as `InstanceType=`. The tables map these names to catalog GPU types (and, for a machine
type, its GPUs); only GPUs the catalog has are listed, the rest need a `--gpu-map`
entry. Each group names the provider's page it was read from.
"""

from __future__ import annotations

from dataclasses import dataclass

GKE_ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"

# https://cloud.google.com/kubernetes-engine/docs/how-to/gpus (the values GKE gives
# cloud.google.com/gke-accelerator) and https://cloud.google.com/compute/docs/gpus (which
# card, and how much memory, each one is).
GKE_ACCELERATORS: dict[str, str] = {
    "nvidia-b200": "B200",
    "nvidia-h200-141gb": "H200",
    "nvidia-h100-mega-80gb": "H100",
    "nvidia-h100-80gb": "H100",
    "nvidia-a100-80gb": "A100-80GB",
    "nvidia-tesla-a100": "A100",  # the 40 GB A100
    "nvidia-l4": "L4",
    "nvidia-tesla-t4": "T4",
    "nvidia-tesla-v100": "V100",  # 16 GB
    "nvidia-tesla-p100": "P100",
}


@dataclass(frozen=True)
class MachineGpus:
    """The GPUs of one machine type."""

    gpu_type: str
    count: int


def _sizes(gpu_type: str, counts: dict[str, int]) -> dict[str, MachineGpus]:
    return {name: MachineGpus(gpu_type, count) for name, count in counts.items()}


# The G families: one GPU up to 16xlarge, four in 12xlarge and 24xlarge, eight in 48xlarge.
G_FAMILY_SIZES = {
    "xlarge": 1,
    "2xlarge": 1,
    "4xlarge": 1,
    "8xlarge": 1,
    "16xlarge": 1,
    "12xlarge": 4,
    "24xlarge": 4,
    "48xlarge": 8,
}


def _family(prefix: str, gpu_type: str, sizes: dict[str, int]) -> dict[str, MachineGpus]:
    return _sizes(gpu_type, {f"{prefix}.{size}": count for size, count in sizes.items()})


INSTANCE_TYPES: dict[str, MachineGpus] = {
    # Amazon EC2, https://aws.amazon.com/ec2/instance-types/p5/ and .../p6/
    **_sizes("H100", {"p5.48xlarge": 8}),
    **_sizes("H200", {"p5e.48xlarge": 8, "p5en.48xlarge": 8}),
    **_sizes("B200", {"p6-b200.48xlarge": 8}),
    # https://aws.amazon.com/ec2/instance-types/p4/
    **_sizes("A100", {"p4d.24xlarge": 8}),
    **_sizes("A100-80GB", {"p4de.24xlarge": 8}),
    # https://aws.amazon.com/ec2/instance-types/p3/
    **_sizes("V100", {"p3.2xlarge": 1, "p3.8xlarge": 4, "p3.16xlarge": 8}),
    **_sizes("V100-32GB", {"p3dn.24xlarge": 8}),
    # https://aws.amazon.com/ec2/instance-types/g5/, .../g6/, .../g6e/
    **_family("g5", "A10G", G_FAMILY_SIZES),
    **_family("g6", "L4", G_FAMILY_SIZES),
    **_family("g6e", "L40S", G_FAMILY_SIZES),
    # https://aws.amazon.com/ec2/instance-types/g4/
    **_family(
        "g4dn",
        "T4",
        {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1, "12xlarge": 4},
    ),
    **_sizes("T4", {"g4dn.metal": 8}),
    # Microsoft Azure, https://learn.microsoft.com/azure/virtual-machines/sizes/gpu-accelerated/
    # nda100v4-series, ndma100v4-series, ndh100v5-series, nd-h200-v5-series, ndmi300xv5-series
    **_sizes("A100", {"Standard_ND96asr_v4": 8}),
    **_sizes("A100-80GB", {"Standard_ND96amsr_A100_v4": 8}),
    **_sizes("H100", {"Standard_ND96isr_H100_v5": 8}),
    **_sizes("H200", {"Standard_ND96isr_H200_v5": 8}),
    **_sizes("MI300X", {"Standard_ND96isr_MI300X_v5": 8}),
    # ... nca100v4-series (A100 80 GB PCIe)
    **_sizes(
        "A100-80GB",
        {
            "Standard_NC24ads_A100_v4": 1,
            "Standard_NC48ads_A100_v4": 2,
            "Standard_NC96ads_A100_v4": 4,
        },
    ),
    # ... ncast4v3-series
    **_sizes(
        "T4",
        {
            "Standard_NC4as_T4_v3": 1,
            "Standard_NC8as_T4_v3": 1,
            "Standard_NC16as_T4_v3": 1,
            "Standard_NC64as_T4_v3": 4,
        },
    ),
    # ... ncv3-series and ndv2-series
    **_sizes(
        "V100",
        {
            "Standard_NC6s_v3": 1,
            "Standard_NC12s_v3": 2,
            "Standard_NC24s_v3": 4,
            "Standard_NC24rs_v3": 4,
        },
    ),
    **_sizes("V100-32GB", {"Standard_ND40rs_v2": 8}),
    # Google Compute Engine, https://cloud.google.com/compute/docs/accelerator-optimized-machines
    **_sizes("A100", {"a2-highgpu-1g": 1, "a2-highgpu-2g": 2, "a2-highgpu-4g": 4}),
    **_sizes("A100", {"a2-highgpu-8g": 8, "a2-megagpu-16g": 16}),
    **_sizes("A100-80GB", {f"a2-ultragpu-{n}g": n for n in (1, 2, 4, 8)}),
    **_sizes("H100", {f"a3-highgpu-{n}g": n for n in (1, 2, 4, 8)}),
    **_sizes("H100", {"a3-megagpu-8g": 8, "a3-edgegpu-8g": 8}),
    **_sizes("H200", {"a3-ultragpu-8g": 8}),
    **_sizes("B200", {"a4-highgpu-8g": 8}),
    **_sizes("L4", {f"g2-standard-{n}": 1 for n in (4, 8, 12, 16, 32)}),
    **_sizes("L4", {"g2-standard-24": 2, "g2-standard-48": 4, "g2-standard-96": 8}),
}
_BY_LOWER_NAME = {name.lower(): gpus for name, gpus in INSTANCE_TYPES.items()}


def machine_gpus(instance_type: str | None) -> MachineGpus | None:
    """The GPUs of a cloud machine type (names compare without regard to case)."""
    return _BY_LOWER_NAME.get(instance_type.lower()) if instance_type else None


def gke_accelerator(value: str | None) -> str | None:
    """The catalog type of a `cloud.google.com/gke-accelerator` value."""
    return GKE_ACCELERATORS.get(value.lower()) if value else None
