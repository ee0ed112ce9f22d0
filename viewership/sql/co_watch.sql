-- Co-watch pairs over a period (contract section 2).
-- facts: gold.user_show_daily rows of the period (user_id, show_id, qualified).
-- A user co-watched show_a < show_b (string order) when they had a qualified view of each on
-- any days of the period; co_viewers = distinct such users. The self-join runs on the distinct
-- (user, show) set, so count(*) already counts distinct users.
WITH watched AS (
    SELECT DISTINCT user_id, show_id
    FROM facts
    WHERE qualified
),
pairs AS (
    SELECT a.show_id AS show_a, b.show_id AS show_b, count(*) AS co_viewers
    FROM watched AS a
    JOIN watched AS b ON b.user_id = a.user_id AND a.show_id < b.show_id
    GROUP BY a.show_id, b.show_id
),
top AS (
    SELECT show_a, show_b, co_viewers
    FROM pairs
    ORDER BY co_viewers DESC, show_a ASC, show_b ASC
    LIMIT $limit
)
SELECT
    row_number() OVER (ORDER BY co_viewers DESC, show_a ASC, show_b ASC) AS rank,
    show_a,
    show_b,
    co_viewers
FROM top
ORDER BY rank
