"""The CSV tables cluster_utils writes (all_data.csv, metrics.csv, param_choice.csv,
reduced_data.csv), read so that a damaged one becomes a note, never a crash.

all_data.csv may be cut off (copied, or read while cluster_utils rewrites it, which it
does in place after every iteration; or a full disk): a file that does not end with a
newline has its last row dropped. Rows without an integer job ``id`` are dropped, a
table without an ``id`` column is ignored; each with a note naming the file.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def read_csv(path: Path, notes: list[str], **kwargs) -> pd.DataFrame | None:
    try:
        return pd.read_csv(path, **kwargs)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        notes.append(f"{path}: unreadable ({type(e).__name__}: {e}); skipped")
        return None


def integer(value) -> int | None:
    """A job id read from a table: an integer (1 or 1.0), else None."""
    number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return int(number) if pd.notna(number) and number == round(number) else None


def _with_job_ids(df: pd.DataFrame, path: Path, notes: list[str]) -> pd.DataFrame | None:
    """The rows of a table of jobs that name their job (an integer ``id``), ids as int."""
    if "id" not in df.columns:
        columns = ", ".join(map(str, df.columns[:8])) + (", ..." if len(df.columns) > 8 else "")
        notes.append(f"{path}: no 'id' column (columns: {columns}); not a table cluster_utils "
                     "wrote: ignored, jobs read from their folders")
        return None
    ids = pd.to_numeric(df["id"], errors="coerce")
    valid = ids.notna() & (ids == ids.round())
    if not valid.all():
        rows = ", ".join(str(i) for i in df.index[~valid][:5])
        notes.append(f"{path}: row(s) {rows} have no integer job id; ignored")
    return df[valid].assign(id=ids[valid].astype(int))


def read_all_data(root: Path, notes: list[str]) -> tuple[pd.DataFrame | None, bool]:
    """all_data.csv, rows without a job id dropped; and whether it was damaged (unreadable,
    cut off, rows or the id column missing): then how many jobs ran is not known."""
    path = root / "all_data.csv"
    if not path.is_file():
        return None, False
    df = read_csv(path, notes, index_col=0)
    if df is None:
        return None, True
    cut = path.stat().st_size > 0 and not _ends_with_newline(path)
    if cut:
        notes.append(
            f"{path}: ends in the middle of a row (cut off: copied or written while "
            "cluster_utils rewrote it, or a full disk); its last row is ignored and the "
            "jobs are also read from their folders"
        )
        df = df.iloc[:-1]
    checked = _with_job_ids(df, path, notes)
    return checked, cut or checked is None or len(checked) < len(df)


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, 2)
        return f.read(1) in (b"\n", b"\r")
