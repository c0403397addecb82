"""Write the first N rows of Census-Income as CSV and as Parquet (pyarrow).

    python census_parquet.py CENSUS.gz N OUTDIR

OUTDIR gets census.csv (the CSV layout of examples/census.yaml: headerless,
", " separated) and census.parquet (the same columns and values, written by
pyarrow: numeric columns and det_ind_code as int64, the rest dictionary-
encoded strings, 1,000-row row groups, zstd). Every 97th row has age
missing: an empty cell in the CSV, a null in the Parquet file. The Go tests
(DCRNN_PYTHON set) check that both give the same fit and the same metrics.
"""

import gzip
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq

COLUMNS = [
    "age", "class_worker", "det_ind_code", "det_occ_code", "education", "wage_per_hour",
    "hs_college", "marital_stat", "major_ind_code", "major_occ_code", "race", "hisp_origin", "sex",
    "union_member", "unemp_reason", "full_or_part_emp", "capital_gains", "capital_losses",
    "stock_dividends", "tax_filer_stat", "region_prev_res", "state_prev_res", "det_hh_fam_stat",
    "det_hh_summ", "instance_weight", "mig_chg_msa", "mig_chg_reg", "mig_move_reg", "mig_same",
    "mig_prev_sunbelt", "num_emp", "fam_under_18", "country_father", "country_mother",
    "country_self", "citizenship", "own_or_self", "vet_question", "vet_benefits", "weeks_worked",
    "year", "income_50k",
]
INTS = {"age", "wage_per_hour", "capital_gains", "capital_losses", "stock_dividends", "num_emp",
        "weeks_worked", "det_ind_code"}


def main():
    src, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rows = []
    with gzip.open(src, "rt") as f:
        for line in f:
            if len(rows) == n:
                break
            cells = [c.strip() for c in line.rstrip("\n").split(",")]
            if len(cells) != len(COLUMNS):
                continue
            if len(rows) % 97 == 0:
                cells[0] = ""
            rows.append(cells)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "census.csv"), "w") as f:
        for cells in rows:
            f.write(", ".join(cells) + "\n")
    cols = {}
    for i, name in enumerate(COLUMNS):
        vals = [r[i] for r in rows]
        if name in INTS:
            cols[name] = pa.array([int(v) if v != "" else None for v in vals], pa.int64())
        elif name == "instance_weight":
            cols[name] = pa.array([float(v) for v in vals], pa.float64())
        else:
            cols[name] = pa.array(vals, pa.string())
    pq.write_table(pa.table(cols), os.path.join(out, "census.parquet"), row_group_size=1000,
                   compression="zstd", use_dictionary=True)


if __name__ == "__main__":
    main()
