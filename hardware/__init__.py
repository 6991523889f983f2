"""Arms on serial servo buses: Robot and Teleoperator seams, drivers, calibration, cameras, the bus emulator."""
