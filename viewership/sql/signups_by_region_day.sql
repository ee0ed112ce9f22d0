-- New users per day and region over a period (contract section 2: signups by day and by region
-- at once). signups: gold.signups_daily rows of the period (signup_date, region, plan,
-- new_users). Each account is counted once there, at its earliest signup, so summing the plans
-- of a day and region gives its exact distinct count. Only groups with a signup are kept.
SELECT
    strftime(signup_date, '%Y-%m-%d') AS date,
    region,
    sum(new_users) AS new_users
FROM signups
GROUP BY signup_date, region
HAVING sum(new_users) >= 1
ORDER BY signup_date ASC, region ASC
