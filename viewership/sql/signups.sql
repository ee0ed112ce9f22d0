-- New users over a period (contract section 2).
-- signups: gold.signups_daily rows of the period (signup_date, region, plan, new_users); each
-- account is counted once there, at its earliest signup, so sums are exact distinct counts.
-- $by is 'total' (one group), 'day', 'region' or 'plan'; only groups with a signup are kept.
SELECT
    CASE $by
        WHEN 'day' THEN strftime(signup_date, '%Y-%m-%d')
        WHEN 'region' THEN region
        WHEN 'plan' THEN plan
    END AS key,
    sum(new_users) AS new_users
FROM signups
GROUP BY key
HAVING sum(new_users) >= 1
ORDER BY key ASC
