"""The planning input as arrays: fleet, demand, storage, network and what runs now."""

from allocator.domain.build import build_domain
from allocator.domain.tables import Demand, Domain, Fleet, Storage

__all__ = ["Demand", "Domain", "Fleet", "Storage", "build_domain"]
