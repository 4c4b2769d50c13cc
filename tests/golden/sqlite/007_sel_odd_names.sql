-- params: 1
SELECT "select", "Mixed Case", "it's", "ünï", "?:x $1" AS "$2 ?" FROM "odd names" WHERE ("odd names"."select" = ?1)
