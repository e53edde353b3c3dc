-- Run once by the postgres image on an empty data volume (compose only). POSTGRES_DB creates `handoff`
-- (the handoff service migrates it itself); Rasa's SQL tracker store creates its tables in `rasa`.
CREATE DATABASE rasa;
