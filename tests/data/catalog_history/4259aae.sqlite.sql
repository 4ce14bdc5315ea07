-- The midex catalog at commit 4259aae (submission.notes added),
-- as that commit's Catalog.init() (SQLModel.metadata.create_all, sqlmodel 0.0.50) created it
-- on sqlite. Generated once from `git show 4259aae:src/midex/catalog.py`; never edit:
-- tests/test_migrations.py builds an old catalog from it and upgrades it.

CREATE TABLE provider (
	id INTEGER NOT NULL,
	code VARCHAR(32) NOT NULL,
	name VARCHAR NOT NULL,
	kind VARCHAR(8) NOT NULL,
	areas JSON NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id)
);

CREATE UNIQUE INDEX ix_provider_code ON provider (code);

CREATE TABLE release (
	id INTEGER NOT NULL,
	number INTEGER NOT NULL,
	created_at DATETIME NOT NULL,
	as_of DATETIME,
	path VARCHAR NOT NULL,
	manifest_sha256 VARCHAR NOT NULL,
	tables JSON NOT NULL,
	submission_ids JSON,
	PRIMARY KEY (id),
	UNIQUE (number)
);

CREATE TABLE submission (
	id INTEGER NOT NULL,
	provider_code VARCHAR NOT NULL,
	file_name VARCHAR NOT NULL,
	format VARCHAR NOT NULL,
	sha256 VARCHAR(64) NOT NULL,
	size_bytes INTEGER NOT NULL,
	landing_uri VARCHAR NOT NULL,
	received_at DATETIME NOT NULL,
	status VARCHAR(10) NOT NULL,
	parsed_at DATETIME,
	harmonised_at DATETIME,
	validated_at DATETIME,
	accepted_at DATETIME,
	resolved_at DATETIME,
	rows_raw INTEGER,
	rows_harmonised INTEGER,
	rows_quarantined INTEGER,
	errors INTEGER,
	warnings INTEGER,
	error VARCHAR,
	mapping_version VARCHAR,
	validation JSON,
	notes JSON,
	PRIMARY KEY (id),
	FOREIGN KEY(provider_code) REFERENCES provider (code)
);

CREATE INDEX ix_submission_status ON submission (status);

CREATE INDEX ix_submission_sha256 ON submission (sha256);

CREATE INDEX ix_submission_provider_code ON submission (provider_code);

CREATE TABLE stagerun (
	id INTEGER NOT NULL,
	submission_id INTEGER NOT NULL,
	stage VARCHAR NOT NULL,
	started_at DATETIME NOT NULL,
	finished_at DATETIME,
	ok BOOLEAN,
	message VARCHAR,
	PRIMARY KEY (id),
	FOREIGN KEY(submission_id) REFERENCES submission (id)
);

CREATE INDEX ix_stagerun_submission_id ON stagerun (submission_id);
