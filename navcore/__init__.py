"""Shared foundation of navtms: frames and transforms, typed errors, atomic file I/O, MRI loading.

Every other package may import navcore; navcore imports only numpy, scipy and nibabel.
It exists so that registration/, tracking/ and targets/ can share one convention without
importing the application (navtms/) or the viewer.
"""
