"""Planning: surfaces, target library, MNI->subject, scalp rules, coil placement, alignment errors. No GUI."""
