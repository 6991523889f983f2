"""honed: robot learning for VLA policies on low-cost serial-servo arms."""
