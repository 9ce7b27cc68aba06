-- Projects and API keys. Keys are stored as SHA-256 hashes; a revoked key is a newer row
-- with Revoked = 1 (ReplacingMergeTree keeps the latest version per KeyId).
CREATE TABLE IF NOT EXISTS projects
(
    Name String,
    CreatedAt DateTime64(3) DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(CreatedAt)
ORDER BY Name;

CREATE TABLE IF NOT EXISTS api_keys
(
    KeyId String,
    KeyHash String,
    Project String,
    Role LowCardinality(String),
    Name String,
    Revoked UInt8 DEFAULT 0,
    CreatedAt DateTime64(3) DEFAULT now64(3),
    UpdatedAt DateTime64(3) DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(UpdatedAt)
ORDER BY KeyId;
