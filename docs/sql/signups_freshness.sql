-- Freshness of the signups answer, one row per arrival date of [$start, $end].
-- run_log: ops.run_log rows (logical_date, feed, status, lines_read, accepted, duplicates,
-- quarantined, recorded_at); a run appends rows and never updates them.
-- A date's counts are those of its latest run that published the signups feed. The answer
-- (gold.signups_daily) holds them once the signups aggregate published after that run; a
-- refused or failed rerun leaves the earlier publication standing. A date that never published
-- has no counts. The newest date with answer_published, and every false row before it, tell
-- how fresh the answer is.
WITH days AS (
    SELECT CAST(generate_series AS DATE) AS arrival_date
    FROM generate_series(CAST($start AS DATE), CAST($end AS DATE), INTERVAL 1 DAY)
),
ingested AS (
    SELECT logical_date, lines_read, accepted, duplicates, quarantined, recorded_at
    FROM run_log
    WHERE feed = 'signups' AND status = 'published'
    QUALIFY row_number() OVER (PARTITION BY logical_date ORDER BY recorded_at DESC) = 1
),
aggregated AS (
    SELECT logical_date, max(recorded_at) AS recorded_at
    FROM run_log
    WHERE feed = 'aggregate:signups' AND status = 'published'
    GROUP BY logical_date
)
SELECT
    d.arrival_date,
    i.lines_read,
    i.accepted,
    i.duplicates,
    i.quarantined,
    coalesce(a.recorded_at >= i.recorded_at, false) AS answer_published
FROM days AS d
LEFT JOIN ingested AS i ON i.logical_date = d.arrival_date
LEFT JOIN aggregated AS a ON a.logical_date = d.arrival_date
ORDER BY d.arrival_date ASC
