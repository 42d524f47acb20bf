"""The planning input as arrays: fleet, demand, storage, network, rules and what runs now
(`tables`), built from a validated inventory (`build`)."""
