"""How every benchmark script exits. A user mistake that polymodal reports as a ``PolymodalError`` (no data folder,
a checksum that does not match, a model folder that is not one) prints one ``error:`` line and exits 2, as the
``polymodal`` command does, instead of a traceback. Anything else is a bug and keeps its traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable

from polymodal.errors import PolymodalError


def run(main: Callable[[], int | None]) -> None:
    try:
        rc = main()
    except PolymodalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        rc = 2
    except KeyboardInterrupt:
        rc = 130
    sys.exit(rc or 0)
