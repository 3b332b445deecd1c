-- The TechEmpower Framework Benchmarks database, for final/examples/techempower.
--
-- From TFB's toolset/databases/postgres/create-postgres.sql
-- (github.com/TechEmpower/FrameworkBenchmarks, last changed in commit
-- d26aec37b6706b5f966044dcef8d0624eb37c124): the same tables, rows and
-- statements, from BEGIN to COMMIT, so that our server reads what every
-- TFB entry reads. World: 10,000 rows, id 1 to 10000, randomNumber a random
-- 1 to 10000 (a new draw at every load). Fortune: the twelve messages,
-- among them an HTML <script> (it must come out escaped) and a Japanese one
-- (it must come out as UTF-8). TFB makes each table twice: World and
-- Fortune unquoted, which PostgreSQL folds to lower case (world, fortune;
-- the ones servers use), and quoted "World" and "Fortune", with their own
-- random numbers.
--
-- Loaded with psql into a fresh UTF-8 database (TFB's is named hello_world),
-- as a superuser, by tests/clients/tfb_verify.py and the benchmark:
--
--     psql -v ON_ERROR_STOP=1 -f create-postgres.sql "host=... dbname=hello_world"
--
-- TFB's database container makes the user benchmarkdbuser (password
-- benchmarkdbpass) before it runs this file, and the GRANTs below need it:
-- our clusters have only postgres, so the one statement added to TFB's
-- file makes that role first when it is missing (roles belong to the whole
-- cluster, hence the check). CREATE EXTENSION pg_stat_statements needs the
-- server started with shared_preload_libraries=pg_stat_statements before
-- its counts can be read (the verifier counts queries with it).

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'benchmarkdbuser') THEN
    CREATE ROLE benchmarkdbuser LOGIN PASSWORD 'benchmarkdbpass';
  END IF;
END
$$;

-- From here on, TFB's file unchanged.
BEGIN;

CREATE EXTENSION IF NOT EXISTS pg_stat_statements;

CREATE TABLE  World (
  id integer NOT NULL,
  randomNumber integer NOT NULL default 0,
  PRIMARY KEY  (id)
);
GRANT ALL PRIVILEGES ON World to benchmarkdbuser;

INSERT INTO World (id, randomnumber)
SELECT x.id, least(floor(random() * 10000 + 1), 10000) FROM generate_series(1,10000) as x(id);

CREATE TABLE Fortune (
  id integer NOT NULL,
  message varchar(2048) NOT NULL,
  PRIMARY KEY  (id)
);
GRANT ALL PRIVILEGES ON Fortune to benchmarkdbuser;

INSERT INTO Fortune (id, message) VALUES (1, 'fortune: No such file or directory');
INSERT INTO Fortune (id, message) VALUES (2, 'A computer scientist is someone who fixes things that aren''t broken.');
INSERT INTO Fortune (id, message) VALUES (3, 'After enough decimal places, nobody gives a damn.');
INSERT INTO Fortune (id, message) VALUES (4, 'A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1');
INSERT INTO Fortune (id, message) VALUES (5, 'A computer program does what you tell it to do, not what you want it to do.');
INSERT INTO Fortune (id, message) VALUES (6, 'Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen');
INSERT INTO Fortune (id, message) VALUES (7, 'Any program that runs right is obsolete.');
INSERT INTO Fortune (id, message) VALUES (8, 'A list is only as strong as its weakest link. — Donald Knuth');
INSERT INTO Fortune (id, message) VALUES (9, 'Feature: A bug with seniority.');
INSERT INTO Fortune (id, message) VALUES (10, 'Computers make very fast, very accurate mistakes.');
INSERT INTO Fortune (id, message) VALUES (11, '<script>alert("This should not be displayed in a browser alert box.");</script>');
INSERT INTO Fortune (id, message) VALUES (12, 'フレームワークのベンチマーク');

CREATE TABLE  "World" (
  id integer NOT NULL,
  randomNumber integer NOT NULL default 0,
  PRIMARY KEY  (id)
);
GRANT ALL PRIVILEGES ON "World" to benchmarkdbuser;

INSERT INTO "World" (id, randomnumber)
SELECT x.id, least(floor(random() * 10000 + 1), 10000) FROM generate_series(1,10000) as x(id);

CREATE TABLE "Fortune" (
  id integer NOT NULL,
  message varchar(2048) NOT NULL,
  PRIMARY KEY  (id)
);
GRANT ALL PRIVILEGES ON "Fortune" to benchmarkdbuser;

INSERT INTO "Fortune" (id, message) VALUES (1, 'fortune: No such file or directory');
INSERT INTO "Fortune" (id, message) VALUES (2, 'A computer scientist is someone who fixes things that aren''t broken.');
INSERT INTO "Fortune" (id, message) VALUES (3, 'After enough decimal places, nobody gives a damn.');
INSERT INTO "Fortune" (id, message) VALUES (4, 'A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1');
INSERT INTO "Fortune" (id, message) VALUES (5, 'A computer program does what you tell it to do, not what you want it to do.');
INSERT INTO "Fortune" (id, message) VALUES (6, 'Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen');
INSERT INTO "Fortune" (id, message) VALUES (7, 'Any program that runs right is obsolete.');
INSERT INTO "Fortune" (id, message) VALUES (8, 'A list is only as strong as its weakest link. — Donald Knuth');
INSERT INTO "Fortune" (id, message) VALUES (9, 'Feature: A bug with seniority.');
INSERT INTO "Fortune" (id, message) VALUES (10, 'Computers make very fast, very accurate mistakes.');
INSERT INTO "Fortune" (id, message) VALUES (11, '<script>alert("This should not be displayed in a browser alert box.");</script>');
INSERT INTO "Fortune" (id, message) VALUES (12, 'フレームワークのベンチマーク');

COMMIT;
