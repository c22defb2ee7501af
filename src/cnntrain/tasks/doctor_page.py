"""doctor.html: the doctor's findings as a page, with a thumbnail of every sample it names (what training
reads: the decoded, resized pixels), embedded as data URIs so the page opens offline."""

from __future__ import annotations

from pathlib import Path

from cnntrain.data.splits import Splits
from cnntrain.data.synthetic import SPLITS
from cnntrain.run.outputs import display_values
from cnntrain.viz.page import write_page
from cnntrain.viz.thumbnails import thumbnail_url

MAX_GROUPS = 60  # duplicate groups shown with thumbnails; doctor.json lists them all
MAX_MEMBERS = 8  # samples shown per group
MAX_ISSUES = 120  # label issues shown with thumbnails
THUMBNAIL_PX = 128  # larger than the report's: telling near copies apart takes their details


def write_doctor_page(path: Path, result, splits: Splits | None) -> Path:
    data = result.as_dict()
    if splits is not None:
        sample = _sampler(splits)
        data["duplicates"] = [group | {"thumbs": [sample(i) for i in members[:MAX_MEMBERS]]}
                              for group, members in zip(data["duplicates"][:MAX_GROUPS], result.members)]
        data["label_issues"] = [issue | {"thumb": sample(i)}
                                for issue, i in zip(data["label_issues"][:MAX_ISSUES], result.issue_members)]
    data["shown"] = {"groups": MAX_GROUPS, "members": MAX_MEMBERS, "issues": MAX_ISSUES}
    return write_page(path, "doctor.html", data=data, title="cnntrain doctor")


def _sampler(splits: Splits):
    """Sample index over train, val, test -> its thumbnail's data URI."""
    where = [(s, i) for s in SPLITS for i in range(len(getattr(splits, s)))]

    def thumbnail(index: int) -> str:
        split, i = where[index]
        sample = getattr(splits, split).x[i:i + 1].numpy()
        return thumbnail_url(display_values(sample)[0], THUMBNAIL_PX)  # float arrays: stretched to their range

    return thumbnail
