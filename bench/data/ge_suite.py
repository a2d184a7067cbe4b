"""Great Expectations' side of the expectation-suite benchmark (issue 4).

The same 16 expectations as bench/data/checks-suite.yaml, in the same order, run by GX Core
1.x on its pandas engine over the Parquet file of bench/data/checks-data.ts. Prints one JSON
line: rows, seconds_total (context + read + validate), seconds_load (pandas.read_parquet),
seconds_validate (the validation alone), success, and each expectation's success.

The file is read by pandas.read_parquet into a dataframe asset (GE's pandas datasource takes
the dataframe as a batch parameter), so the load and the validation can be timed apart.
GE's default result format (SUMMARY: counts, percents, partial unexpected lists) is kept,
as the Mobius side returns the same kind of result.

Usage: <venv>/bin/python bench/data/ge_suite.py <file.parquet>
       (the venv comes from bench/data/setup-ge.sh)
"""

import json
import os
import resource
import sys
import time

# No usage-statistics calls home: this machine has no network but the package registries.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

started = time.perf_counter()

import great_expectations as gx  # noqa: E402
import great_expectations.expectations as gxe  # noqa: E402
import pandas as pd  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402

COLUMNS = [
    "order_id",
    "customer_id",
    "amount",
    "quantity",
    "status",
    "country",
    "email",
    "created_at",
    "day",
    "discount",
]
STATUSES = ["new", "paid", "shipped", "delivered", "returned"]
COUNTRIES = ["US", "GB", "DE", "FR", "ES", "IT", "NL", "BE", "SE", "NO",
             "DK", "FI", "PL", "PT", "IE", "CA", "MX", "BR", "JP", "AU"]


def expectations():
    """The 16 expectations, numbered as in checks-suite.yaml."""
    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=1000, max_value=20_000_000),
        gxe.ExpectTableColumnsToMatchSet(column_set=COLUMNS, exact_match=True),
        gxe.ExpectColumnValuesToNotBeNull(column="order_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="customer_id", mostly=0.99),
        gxe.ExpectColumnValuesToNotBeNull(column="discount", mostly=0.6, severity="warning"),
        gxe.ExpectColumnValuesToBeUnique(column="order_id"),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["created_at", "status"]),
        gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0, max_value=10000),
        gxe.ExpectColumnValuesToBeBetween(column="quantity", min_value=1, max_value=50),
        gxe.ExpectColumnValuesToBeBetween(column="discount", min_value=0, max_value=5000),
        gxe.ExpectColumnValuesToBeInSet(column="status", value_set=STATUSES),
        gxe.ExpectColumnValuesToBeInSet(column="country", value_set=COUNTRIES),
        gxe.ExpectColumnValuesToMatchRegex(column="email", regex=r"^[^@\s]+@[^@\s]+\.[a-z]+$"),
        gxe.ExpectColumnValueLengthsToBeBetween(column="country", min_value=2, max_value=2),
        gxe.ExpectColumnValueLengthsToBeBetween(column="email", min_value=8, max_value=64),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="amount", column_B="quantity", or_equal=True
        ),
    ]


def label(config):
    """'expect_column_values_to_be_between(amount)' — the type and its column(s)."""
    kwargs = config.kwargs
    target = kwargs.get("column") or ",".join(
        kwargs.get("column_list") or [c for c in (kwargs.get("column_A"), kwargs.get("column_B")) if c]
    )
    return f"{config.type}({target})" if target else config.type


def main(path):
    context = gx.get_context(mode="ephemeral")
    # The progress bars only write to stderr; off, so the run prints its JSON line alone.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("bench")
    asset = source.add_dataframe_asset(name="orders")
    batch = asset.add_batch_definition_whole_dataframe("whole")
    suite = context.suites.add(gx.ExpectationSuite(name="bench-orders"))
    for expectation in expectations():
        suite.add_expectation(expectation)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="bench-orders", data=batch, suite=suite)
    )

    load_started = time.perf_counter()
    frame = pd.read_parquet(path)
    seconds_load = time.perf_counter() - load_started

    validate_started = time.perf_counter()
    result = definition.run(batch_parameters={"dataframe": frame})
    seconds_validate = time.perf_counter() - validate_started
    seconds_total = time.perf_counter() - started

    expectations_out = [
        {
            "expectation": label(r.expectation_config),
            "success": bool(r.success),
            "unexpected_count": (r.result or {}).get("unexpected_count"),
        }
        for r in result.results
    ]
    print(
        json.dumps(
            {
                "engine": "great_expectations-pandas",
                "version": gx.__version__,
                "pandas": pd.__version__,
                "rows": len(frame),
                "seconds_total": round(seconds_total, 3),
                "seconds_load": round(seconds_load, 3),
                "seconds_validate": round(seconds_validate, 3),
                "rows_per_second_validate": round(len(frame) / seconds_validate),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "success": bool(result.success),
                "evaluated": len(expectations_out),
                "successful": sum(1 for e in expectations_out if e["success"]),
                "expectations": expectations_out,
            }
        )
    )
    return 0 if result.success else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: ge_suite.py <file.parquet>")
    sys.exit(main(sys.argv[1]))
