-- create table
CREATE TABLE "gd_new" ("id" INTEGER PRIMARY KEY, "t" TEXT NOT NULL UNIQUE DEFAULT ('it''s'), CHECK (("t" <> '')), FOREIGN KEY ("id") REFERENCES "gd_t" ("id") ON DELETE RESTRICT ON UPDATE SET DEFAULT);
-- drop table
DROP TABLE "gd_t";
-- rename table
ALTER TABLE "gd_t" RENAME TO "gd_u";
-- add column
ALTER TABLE "gd_t" ADD COLUMN "n" INTEGER NOT NULL DEFAULT (0);
-- add column unique
ALTER TABLE "gd_t" ADD COLUMN "u" TEXT;
CREATE UNIQUE INDEX "gd_t_u_key" ON "gd_t" ("u");
-- drop column
PRAGMA foreign_keys=OFF;
PRAGMA legacy_alter_table=ON;
CREATE TABLE "dal_new_gd_t" ("id" INTEGER PRIMARY KEY, "a" TEXT NOT NULL DEFAULT ('x''y'), "b" INTEGER UNIQUE DEFAULT (-1), "c" REAL DEFAULT (0.25), "d" BOOLEAN DEFAULT (0), "e" BLOB DEFAULT (X'00ff'), "f" NUMERIC, "g" TIMESTAMP DEFAULT (CURRENT_TIMESTAMP), "i" JSON CHECK ("i" IS NULL OR json_valid("i")), UNIQUE ("c", "d"), CHECK ("i" IS NULL OR json_valid("i")), CONSTRAINT "gd_t_b" CHECK ((("b" IS NULL) OR ("b" >= -1))), FOREIGN KEY ("a", "b") REFERENCES "gd_p" ("a", "b") ON DELETE SET NULL ON UPDATE CASCADE);
INSERT INTO "dal_new_gd_t" ("id", "a", "b", "c", "d", "e", "f", "g", "i") SELECT "id", "a", "b", "c", "d", "e", "f", "g", "i" FROM "gd_t";
DROP TABLE "gd_t";
ALTER TABLE "dal_new_gd_t" RENAME TO "gd_t";
CREATE INDEX "gd_t_c" ON "gd_t" ("c") WHERE ("c" > 0.5);
PRAGMA foreign_key_check;
PRAGMA foreign_keys=ON;
PRAGMA legacy_alter_table=OFF;
-- rename column
ALTER TABLE "gd_t" RENAME COLUMN "h" TO "h2";
-- alter type
PRAGMA foreign_keys=OFF;
PRAGMA legacy_alter_table=ON;
CREATE TABLE "dal_new_gd_t" ("id" INTEGER PRIMARY KEY, "a" TEXT NOT NULL DEFAULT ('x''y'), "b" INTEGER UNIQUE DEFAULT (-1), "c" REAL DEFAULT (0.25), "d" BOOLEAN DEFAULT (0), "e" BLOB DEFAULT (X'00ff'), "f" TEXT, "g" TIMESTAMP DEFAULT (CURRENT_TIMESTAMP), "h" DATE, "i" JSON CHECK ("i" IS NULL OR json_valid("i")), UNIQUE ("c", "d"), CHECK ("i" IS NULL OR json_valid("i")), CONSTRAINT "gd_t_b" CHECK ((("b" IS NULL) OR ("b" >= -1))), FOREIGN KEY ("a", "b") REFERENCES "gd_p" ("a", "b") ON DELETE SET NULL ON UPDATE CASCADE);
INSERT INTO "dal_new_gd_t" ("id", "a", "b", "c", "d", "e", "f", "g", "h", "i") SELECT "id", "a", "b", "c", "d", "e", "f", "g", "h", "i" FROM "gd_t";
DROP TABLE "gd_t";
ALTER TABLE "dal_new_gd_t" RENAME TO "gd_t";
CREATE INDEX "gd_t_c" ON "gd_t" ("c") WHERE ("c" > 0.5);
PRAGMA foreign_key_check;
PRAGMA foreign_keys=ON;
PRAGMA legacy_alter_table=OFF;
-- alter null
PRAGMA foreign_keys=OFF;
PRAGMA legacy_alter_table=ON;
CREATE TABLE "dal_new_gd_t" ("id" INTEGER PRIMARY KEY, "a" TEXT NOT NULL DEFAULT ('x''y'), "b" INTEGER UNIQUE DEFAULT (-1), "c" REAL DEFAULT (0.25), "d" BOOLEAN DEFAULT (0), "e" BLOB DEFAULT (X'00ff'), "f" NUMERIC NOT NULL, "g" TIMESTAMP DEFAULT (CURRENT_TIMESTAMP), "h" DATE, "i" JSON CHECK ("i" IS NULL OR json_valid("i")), UNIQUE ("c", "d"), CHECK ("i" IS NULL OR json_valid("i")), CONSTRAINT "gd_t_b" CHECK ((("b" IS NULL) OR ("b" >= -1))), FOREIGN KEY ("a", "b") REFERENCES "gd_p" ("a", "b") ON DELETE SET NULL ON UPDATE CASCADE);
INSERT INTO "dal_new_gd_t" ("id", "a", "b", "c", "d", "e", "f", "g", "h", "i") SELECT "id", "a", "b", "c", "d", "e", "f", "g", "h", "i" FROM "gd_t";
DROP TABLE "gd_t";
ALTER TABLE "dal_new_gd_t" RENAME TO "gd_t";
CREATE INDEX "gd_t_c" ON "gd_t" ("c") WHERE ("c" > 0.5);
PRAGMA foreign_key_check;
PRAGMA foreign_keys=ON;
PRAGMA legacy_alter_table=OFF;
-- alter default
PRAGMA foreign_keys=OFF;
PRAGMA legacy_alter_table=ON;
CREATE TABLE "dal_new_gd_t" ("id" INTEGER PRIMARY KEY, "a" TEXT NOT NULL DEFAULT ('x''y'), "b" INTEGER UNIQUE DEFAULT (-1), "c" REAL DEFAULT (0.25), "d" BOOLEAN DEFAULT (0), "e" BLOB DEFAULT (X'00ff'), "f" NUMERIC DEFAULT (-1.5), "g" TIMESTAMP DEFAULT (CURRENT_TIMESTAMP), "h" DATE, "i" JSON CHECK ("i" IS NULL OR json_valid("i")), UNIQUE ("c", "d"), CHECK ("i" IS NULL OR json_valid("i")), CONSTRAINT "gd_t_b" CHECK ((("b" IS NULL) OR ("b" >= -1))), FOREIGN KEY ("a", "b") REFERENCES "gd_p" ("a", "b") ON DELETE SET NULL ON UPDATE CASCADE);
INSERT INTO "dal_new_gd_t" ("id", "a", "b", "c", "d", "e", "f", "g", "h", "i") SELECT "id", "a", "b", "c", "d", "e", "f", "g", "h", "i" FROM "gd_t";
DROP TABLE "gd_t";
ALTER TABLE "dal_new_gd_t" RENAME TO "gd_t";
CREATE INDEX "gd_t_c" ON "gd_t" ("c") WHERE ("c" > 0.5);
PRAGMA foreign_key_check;
PRAGMA foreign_keys=ON;
PRAGMA legacy_alter_table=OFF;
-- drop default
PRAGMA foreign_keys=OFF;
PRAGMA legacy_alter_table=ON;
CREATE TABLE "dal_new_gd_t" ("id" INTEGER PRIMARY KEY, "a" TEXT NOT NULL DEFAULT ('x''y'), "b" INTEGER UNIQUE DEFAULT (-1), "c" REAL, "d" BOOLEAN DEFAULT (0), "e" BLOB DEFAULT (X'00ff'), "f" NUMERIC, "g" TIMESTAMP DEFAULT (CURRENT_TIMESTAMP), "h" DATE, "i" JSON CHECK ("i" IS NULL OR json_valid("i")), UNIQUE ("c", "d"), CHECK ("i" IS NULL OR json_valid("i")), CONSTRAINT "gd_t_b" CHECK ((("b" IS NULL) OR ("b" >= -1))), FOREIGN KEY ("a", "b") REFERENCES "gd_p" ("a", "b") ON DELETE SET NULL ON UPDATE CASCADE);
INSERT INTO "dal_new_gd_t" ("id", "a", "b", "c", "d", "e", "f", "g", "h", "i") SELECT "id", "a", "b", "c", "d", "e", "f", "g", "h", "i" FROM "gd_t";
DROP TABLE "gd_t";
ALTER TABLE "dal_new_gd_t" RENAME TO "gd_t";
CREATE INDEX "gd_t_c" ON "gd_t" ("c") WHERE ("c" > 0.5);
PRAGMA foreign_key_check;
PRAGMA foreign_keys=ON;
PRAGMA legacy_alter_table=OFF;
-- alter all
PRAGMA foreign_keys=OFF;
PRAGMA legacy_alter_table=ON;
CREATE TABLE "dal_new_gd_t" ("id" INTEGER PRIMARY KEY, "a" TEXT NOT NULL DEFAULT ('x''y'), "b" INTEGER UNIQUE DEFAULT (-1), "c" REAL DEFAULT (0.25), "d" BOOLEAN DEFAULT (0), "e" BLOB DEFAULT (X'00ff'), "f" NUMERIC, "g" TIMESTAMP DEFAULT (CURRENT_TIMESTAMP), "h" TIMESTAMP DEFAULT (CURRENT_TIMESTAMP), "i" JSON CHECK ("i" IS NULL OR json_valid("i")), UNIQUE ("c", "d"), CHECK ("i" IS NULL OR json_valid("i")), CONSTRAINT "gd_t_b" CHECK ((("b" IS NULL) OR ("b" >= -1))), FOREIGN KEY ("a", "b") REFERENCES "gd_p" ("a", "b") ON DELETE SET NULL ON UPDATE CASCADE);
INSERT INTO "dal_new_gd_t" ("id", "a", "b", "c", "d", "e", "f", "g", "h", "i") SELECT "id", "a", "b", "c", "d", "e", "f", "g", "h", "i" FROM "gd_t";
DROP TABLE "gd_t";
ALTER TABLE "dal_new_gd_t" RENAME TO "gd_t";
CREATE INDEX "gd_t_c" ON "gd_t" ("c") WHERE ("c" > 0.5);
PRAGMA foreign_key_check;
PRAGMA foreign_keys=ON;
PRAGMA legacy_alter_table=OFF;
-- create index
CREATE INDEX "gd_t_ab" ON "gd_t" ("a", "b");
-- create unique partial index
CREATE UNIQUE INDEX "gd_t_a1" ON "gd_t" ("a") WHERE (("d" = 1) AND ("a" <> ''''));
-- drop index
DROP INDEX "gd_t_c";
-- raw
VACUUM;
