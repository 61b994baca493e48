"""Looking for the face: head renders, face detectors, facial-feature and re-identification checks.

``render`` ray-casts the skin surface from the standard views; ``faces`` runs the
detectors (dlib CNN/HOG, OpenCV Haar); ``features`` measures what skin survives over each facial
feature; ``reid`` compares face descriptors (dlib) between original and defaced renders;
``check`` combines them into the face check of one image.

May import the shared modules of :mod:`bids_deface.methods`; it reads the removal
region as an array, never the registration itself.
"""
