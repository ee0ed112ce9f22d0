-- Genres by region over a period (contract section 2).
-- facts: gold.user_show_daily rows of the period
--        (user_id, show_id, region, watch_seconds, qualified_in_region).
-- shows: silver.shows (show_id, genres, snapshot_date).
-- Per region and genre: viewers = distinct users with a view qualified in that region of a show
-- of the genre; watch_seconds = the region's seconds of those shows. A show counts once toward
-- each distinct genre it lists; a show missing from silver.shows has no genre.
-- $region (NULL for every region) keeps one region; $limit caps the rows of each region.
WITH regional AS (
    SELECT user_id, show_id, region, watch_seconds, qualified_in_region
    FROM facts
    WHERE $region IS NULL OR region = $region
),
latest_shows AS (
    SELECT show_id, genres
    FROM shows
    QUALIFY row_number() OVER (PARTITION BY show_id ORDER BY snapshot_date DESC) = 1
),
show_genres AS (
    SELECT DISTINCT show_id, genre
    FROM (SELECT show_id, unnest(genres) AS genre FROM latest_shows)
),
show_seconds AS (
    SELECT region, show_id, sum(watch_seconds) AS watch_seconds
    FROM regional
    GROUP BY region, show_id
),
genre_seconds AS (
    SELECT s.region, g.genre, sum(s.watch_seconds) AS watch_seconds
    FROM show_seconds AS s
    JOIN show_genres AS g ON g.show_id = s.show_id
    GROUP BY s.region, g.genre
),
genre_viewers AS (
    -- One distinct count after the join: measured cheaper than de-duplicating first.
    SELECT f.region, g.genre, count(DISTINCT f.user_id) AS viewers
    FROM regional AS f
    JOIN show_genres AS g ON g.show_id = f.show_id
    WHERE f.qualified_in_region
    GROUP BY f.region, g.genre
),
ranked AS (
    SELECT
        s.region,
        s.genre,
        coalesce(v.viewers, 0) AS viewers,
        s.watch_seconds,
        row_number() OVER (
            PARTITION BY s.region
            ORDER BY coalesce(v.viewers, 0) DESC, s.watch_seconds DESC, s.genre ASC
        ) AS rank
    FROM genre_seconds AS s
    LEFT JOIN genre_viewers AS v ON v.region = s.region AND v.genre = s.genre
)
SELECT region, genre, rank, viewers, watch_seconds
FROM ranked
WHERE rank <= $limit
ORDER BY region ASC, rank ASC
