import os

# albumentations asks the network for its latest version when imported; never do that.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
