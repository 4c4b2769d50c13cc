-- params: 5
UPDATE "products" SET "stock" = ("stock" - $1::int8), "price" = ("price" * $2::float8), "name" = $3 WHERE (("stock" > $4::int8) AND ("sku" LIKE $5 ESCAPE '\'))
