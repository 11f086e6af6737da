"""VTK scenes: head/brain surfaces, coil, targets, bullseye; real window and offscreen snapshots."""
