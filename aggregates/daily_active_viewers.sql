-- Active viewers over a period, per region and device (aggregates/daily_active_viewers.py).
-- daily: gold.daily_active_viewers rows of the period. Daily counts add up to viewer-days;
-- divided by the period's length in days they are the average daily active viewers (a day
-- without a row counts as zero).
SELECT
    region,
    device,
    sum(active_viewers) AS viewer_days,
    round(sum(active_viewers) / (date_diff('day', $start, $end) + 1), 2) AS avg_daily_viewers
FROM daily
GROUP BY region, device
ORDER BY region ASC, viewer_days DESC, device ASC
