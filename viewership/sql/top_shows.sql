-- Top shows over a period (contract section 2).
-- facts: gold.user_show_daily rows of the period (user_id, show_id, watch_seconds, qualified).
-- shows: silver.shows (show_id, title, snapshot_date).
-- viewers = distinct users with a qualified (user, show, date); watch_seconds = every accepted
-- second, qualified or not. Ranking uses the exact seconds; the caller rounds to hours.
WITH per_show AS (
    SELECT
        show_id,
        count(DISTINCT user_id) FILTER (WHERE qualified) AS viewers,
        sum(watch_seconds) AS watch_seconds
    FROM facts
    GROUP BY show_id
),
top AS (
    SELECT show_id, viewers, watch_seconds
    FROM per_show
    ORDER BY viewers DESC, watch_seconds DESC, show_id ASC
    LIMIT $limit
),
titles AS (
    -- One title per show even if the silver table ever held two rows for one show_id.
    SELECT show_id, title
    FROM shows
    QUALIFY row_number() OVER (PARTITION BY show_id ORDER BY snapshot_date DESC) = 1
)
SELECT
    row_number() OVER (ORDER BY t.viewers DESC, t.watch_seconds DESC, t.show_id ASC) AS rank,
    t.show_id,
    s.title,
    t.viewers,
    t.watch_seconds
FROM top AS t
LEFT JOIN titles AS s ON s.show_id = t.show_id
ORDER BY rank
