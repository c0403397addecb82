"""Write the Parquet fixtures of internal/data's tests with pyarrow.

Run from the repository root (pyarrow 26.0.1):

    /work/venv/bin/python internal/data/testdata/parquet/make_fixtures.py

The files are committed; the Go tests hold the expected cells themselves.
"""

import os

import pyarrow as pa
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))

# Ten rows, three row groups (4 + 4 + 2 rows). Nulls in user, age, price,
# tags; an empty list; dictionary-encoded strings.
ROWS = {
    "user": ["u1", "u2", None, "u1", "u3", "u2", "u1", "u4", "u1", "u2"],
    "age": [31, None, 45, 22, 38, 51, None, 29, 33, 40],
    "price": [1.5, 2.25, None, 0.1, 10.0, 3.0, 4.5, None, 7.75, 1e-07],
    "active": [True, False, True, True, False, False, True, False, True, True],
    "tags": [["a", "b"], [], None, ["c"], ["a", None, "c"], ["b"], ["a"], ["d", "e"], [], ["a", "b", "c"]],
    "tagstr": ["a|b", "", "", "c", "a|c", "b", "a", "d|e", "", "a|b|c"],
    "day": ["2026-11-01", "2026-11-01", "2026-11-02", "2026-11-02", "2026-11-03",
            "2026-11-03", "2026-11-04", "2026-11-04", "2026-11-05", "2026-11-05"],
    "click": [1, 0, 0, 1, 1, 0, 1, 0, 0, 1],
    "buy": [1, 0, 0, 0, 1, 0, 0, 0, 0, 1],
}


def table():
    return pa.table({
        "user": pa.array(ROWS["user"], pa.string()),
        "age": pa.array(ROWS["age"], pa.int64()),
        "price": pa.array(ROWS["price"], pa.float64()),
        "active": pa.array(ROWS["active"], pa.bool_()),
        "tags": pa.array(ROWS["tags"], pa.list_(pa.string())),
        "tagstr": pa.array(ROWS["tagstr"], pa.string()),
        "day": pa.array(ROWS["day"], pa.string()),
        "click": pa.array(ROWS["click"], pa.int32()),
        "buy": pa.array(ROWS["buy"], pa.int64()),
    })


def main():
    t = table()
    for codec in ("snappy", "zstd", "gzip"):
        pq.write_table(t, os.path.join(HERE, f"basic_{codec}.parquet"), compression=codec,
                       row_group_size=4, use_dictionary=True)
    # The same rows as two shards of a day-partitioned layout.
    for day, lo, hi in (("2026-11-01", 0, 6), ("2026-11-04", 6, 10)):
        d = os.path.join(HERE, "shards", f"day={day}")
        os.makedirs(d, exist_ok=True)
        pq.write_table(t.slice(lo, hi - lo), os.path.join(d, "part-0.parquet"), compression="snappy")
    # A truncated copy: the footer is cut off.
    with open(os.path.join(HERE, "basic_snappy.parquet"), "rb") as f:
        raw = f.read()
    with open(os.path.join(HERE, "truncated.parquet"), "wb") as f:
        f.write(raw[: len(raw) - 40])
    # age as strings (a numeric field over a string column is parsed; one
    # value is not a number) and as a struct (no text form).
    bad = t.set_column(1, "age", pa.array(["31", "x", "45", "22", "38", "51", "", "29", "33", "40"], pa.string()))
    pq.write_table(bad, os.path.join(HERE, "age_string.parquet"), row_group_size=4)
    nested = t.set_column(1, "age", pa.array([{"years": a} for a in ROWS["age"]]))
    pq.write_table(nested, os.path.join(HERE, "age_struct.parquet"))
    # Other physical and logical types: a date, an unsigned and a small
    # integer, a float32, a required (non-null) string.
    import datetime

    other = pa.table({
        "day": pa.array([datetime.date(2026, 11, 1), None, datetime.date(1969, 12, 31)], pa.date32()),
        "u32": pa.array([4294967295, 0, None], pa.uint32()),
        "i8": pa.array([-128, 127, 0], pa.int8()),
        "f32": pa.array([0.1, -2.5, None], pa.float32()),
        "name": pa.array(["x", "y", "z"], pa.string()),
    }, schema=pa.schema([("day", pa.date32()), ("u32", pa.uint32()), ("i8", pa.int8()),
                         ("f32", pa.float32()), pa.field("name", pa.string(), nullable=False)]))
    pq.write_table(other, os.path.join(HERE, "types.parquet"))
    listed = t.set_column(0, "user", pa.array([[u] for u in ROWS["user"]], pa.list_(pa.string())))
    pq.write_table(listed, os.path.join(HERE, "user_list.parquet"))


if __name__ == "__main__":
    main()
