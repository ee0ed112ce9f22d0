-- Co-watch pairs over a period (contract section 2).
-- facts: gold.user_show_daily rows of the period (user_id, show_id, qualified).
-- A user co-watched show_a < show_b (string order) when they had a qualified view of each on
-- any days of the period; co_viewers = distinct such users. The self-join runs on the distinct
-- (user, show) set, so count(*) already counts distinct users.
--
-- Exact top-$limit pruning: a pair's co_viewers is at most the viewers of either show. The
-- pairs among the $seed most-viewed shows are counted first (a cheap join); the $limit-th best
-- of those counts, T, is a lower bound of the answer's last co_viewers, so only shows with at
-- least T viewers can appear in the answer (ties at T included). With fewer than $limit seed
-- pairs T is 1 and nothing is pruned. Shows are then joined as integer codes numbered in
-- show_id order, so comparing codes is comparing show_ids.
WITH watched AS MATERIALIZED (
    SELECT DISTINCT user_id, show_id
    FROM facts
    WHERE qualified
),
show_viewers AS MATERIALIZED (
    SELECT show_id, count(*) AS viewers
    FROM watched
    GROUP BY show_id
),
seed_shows AS (
    SELECT show_id
    FROM show_viewers
    ORDER BY viewers DESC, show_id ASC
    LIMIT $seed
),
seed_watched AS (
    SELECT w.user_id, w.show_id
    FROM watched AS w
    SEMI JOIN seed_shows AS s ON s.show_id = w.show_id
),
seed_pairs AS (
    SELECT count(*) AS co_viewers
    FROM seed_watched AS a
    JOIN seed_watched AS b ON b.user_id = a.user_id AND a.show_id < b.show_id
    GROUP BY a.show_id, b.show_id
),
threshold AS (
    SELECT CASE WHEN count(*) < $limit THEN 1 ELSE min(co_viewers) END AS min_viewers
    FROM (SELECT co_viewers FROM seed_pairs ORDER BY co_viewers DESC LIMIT $limit)
),
candidates AS MATERIALIZED (
    SELECT show_id, row_number() OVER (ORDER BY show_id ASC) AS code
    FROM show_viewers
    WHERE viewers >= (SELECT min_viewers FROM threshold)
),
coded AS MATERIALIZED (
    SELECT w.user_id, c.code
    FROM watched AS w
    JOIN candidates AS c ON c.show_id = w.show_id
),
pairs AS (
    SELECT a.code AS code_a, b.code AS code_b, count(*) AS co_viewers
    FROM coded AS a
    JOIN coded AS b ON b.user_id = a.user_id AND a.code < b.code
    GROUP BY a.code, b.code
),
top AS (
    SELECT code_a, code_b, co_viewers
    FROM pairs
    ORDER BY co_viewers DESC, code_a ASC, code_b ASC
    LIMIT $limit
)
SELECT
    row_number() OVER (ORDER BY t.co_viewers DESC, t.code_a ASC, t.code_b ASC) AS rank,
    a.show_id AS show_a,
    b.show_id AS show_b,
    t.co_viewers
FROM top AS t
JOIN candidates AS a ON a.code = t.code_a
JOIN candidates AS b ON b.code = t.code_b
ORDER BY rank
