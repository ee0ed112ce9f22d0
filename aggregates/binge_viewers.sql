-- Binge viewers over a period (aggregates/binge_viewers.py): distinct users who watched the
-- show for at least 3 hours on at least one day of the period (seconds of all regions added
-- up per user, show and day), ranked by binge viewers desc, then show_id asc.
-- facts: gold.user_show_daily rows of the period.
WITH binges AS (
    SELECT event_date, user_id, show_id
    FROM facts
    GROUP BY event_date, user_id, show_id
    HAVING sum(watch_seconds) >= 3 * 3600
)
SELECT
    row_number() OVER (ORDER BY count(DISTINCT user_id) DESC, show_id ASC) AS rank,
    show_id,
    count(DISTINCT user_id) AS binge_viewers
FROM binges
GROUP BY show_id
ORDER BY rank
LIMIT $limit
