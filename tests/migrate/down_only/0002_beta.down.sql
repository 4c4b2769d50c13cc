DROP TABLE mt_bad2;
