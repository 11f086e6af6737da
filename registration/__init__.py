"""Registration: paired-point and surface (ICP) fits, FRE/TRE, pivot and coil calibration. No GUI."""
