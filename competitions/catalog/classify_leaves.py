"""classify-leaves: 176 leaf species, 224x224 JPEGs of train and test in one folder, accuracy.

Layout in shared/competitions.md: images/<n>.jpg, train.csv (image,label; image is a path relative
to the competition folder), test.csv (image), sample_submission.csv (image,label). The class list
is not published: it is read from train.csv (sorted), and saved with every checkpoint. The spec is
the file specs/classify-leaves.yaml.
"""

from __future__ import annotations

from competitions.catalog.spec_files import builtin_spec

CLASSIFY_LEAVES = builtin_spec("classify-leaves")
