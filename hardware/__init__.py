"""Arms on serial servo buses: drivers behind the Robot and Teleoperator seams, calibration, cameras, the bus emulator."""
