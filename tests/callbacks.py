"""Lightning callbacks the tests hand to `compete fit --trainer.callbacks+=tests.callbacks.NAME`."""

from __future__ import annotations

import time
from pathlib import Path

from lightning.pytorch.callbacks import Callback


class SlowPrediction(Callback):
    """Writes the file ``predicting`` in the working directory, then takes 2 s a batch while a Trainer
    predicts: time for a test to send a signal inside ``trainer.predict``."""

    def on_predict_batch_start(self, *args) -> None:
        Path("predicting").touch()
        time.sleep(2.0)
