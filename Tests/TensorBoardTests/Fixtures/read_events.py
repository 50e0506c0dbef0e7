"""Reads the event files in a directory with TensorBoard's own EventAccumulator (what `tensorboard --logdir`
uses) and prints what it found as JSON: {"file_version": ..., "scalars": {tag: [[wall_time, step, value]]}}.
Numbers are printed with repr() as strings, so that nan and inf survive JSON. file_version is the first
event's string, read with EventFileLoader (EventAccumulator keeps only its number). Used by TensorBoardReaderTests.
"""

import json
import os
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader


def main(directory):
    # size_guidance 0 keeps every scalar; no purging, so the reader reports each event the file holds.
    accumulator = EventAccumulator(directory, size_guidance={"scalars": 0}, purge_orphaned_data=False)
    accumulator.Reload()
    scalars = {
        tag: [[repr(e.wall_time), e.step, repr(e.value)] for e in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }
    files = sorted(f for f in os.listdir(directory) if "tfevents" in f)
    if len(files) != 1:
        sys.exit("expected one event file in %s, found %r" % (directory, files))
    first = next(iter(EventFileLoader(os.path.join(directory, files[0])).Load()), None)
    file_version = first.file_version if first is not None else None
    print(json.dumps({"file_version": file_version, "scalars": scalars}))


if __name__ == "__main__":
    main(sys.argv[1])
