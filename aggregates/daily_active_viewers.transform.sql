-- Daily active viewers (aggregates/daily_active_viewers.py), as a Spark SQL transform.
-- {events} is silver.viewing_events restricted to the event dates the run changed; the
-- result replaces exactly those dates of gold.daily_active_viewers, in the table's columns.
SELECT
    to_date(event_ts) AS event_date,
    region,
    device,
    count(DISTINCT user_id) AS active_viewers,
    CAST(sum(watch_seconds) AS BIGINT) AS watch_seconds
FROM {events}
GROUP BY to_date(event_ts), region, device
