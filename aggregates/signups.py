"""New signups per day, region and plan (contract section 2).

Each account appears once in silver, at its earliest signup, so daily counts add up exactly
over any period: ``viewership query signups`` sums this table.
"""

from __future__ import annotations

from pyiceberg.types import DateType, LongType, StringType
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from data_quality.suites import Check, between, in_set, region_known, rows_where
from jobs.registry import Aggregate
from schemas.contract import PLANS
from schemas.tables import daily_table
from viewership import query
from viewership.queries import Option, Query

TABLE = daily_table(
    "gold.signups_daily",
    [
        ("signup_date", DateType()),
        ("region", StringType()),
        ("plan", StringType()),
        ("new_users", LongType()),
    ],
    key=("signup_date", "region", "plan"),
    doc="Gold: new accounts per signup date, region and plan (additive across days).",
)


def transform(signups: DataFrame) -> DataFrame:
    """New accounts per signup date, region and plan."""
    return signups.groupBy(F.to_date("signup_ts").alias("signup_date"), "region", "plan").agg(
        F.count("user_id").alias("new_users")
    )


def audit_batch(staged: DataFrame, signups: DataFrame) -> DataFrame:
    """Staged rows beside the accounts recounted from silver."""
    recount = transform(signups).withColumnRenamed("new_users", "silver_new_users")
    return staged.join(recount, ["signup_date", "region", "plan"], "full_outer")


def checks() -> list[Check]:
    return [
        between("new_users_positive", "new_users", min_value=1),
        rows_where("new_users_match_silver", "NOT (new_users <=> silver_new_users)",
                   "new users per day, region and plan equal silver's accounts"),
        in_set("plan_known", "plan", PLANS),
        region_known(),
    ]  # fmt: skip


AGGREGATE = Aggregate(
    name="signups",
    table=TABLE,
    reads=("signups",),
    transform=transform,
    dates="signup",
    additive=True,
    checks=checks,
    audit_batch=audit_batch,
    query=Query(
        "signups",
        query.signups,
        lambda options: (*query.SIGNUP_KEYS[str(options["by"])], "new_users"),
        (Option("--by", {"choices": query.SIGNUPS_BY, "default": "total"}),),
        help="new users over the period, in total or by day, region or plan",
    ),
    doc=__doc__ or "",
)
