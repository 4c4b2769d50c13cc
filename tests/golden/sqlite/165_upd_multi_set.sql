-- params: 5
UPDATE "products" SET "stock" = ("stock" - ?1), "price" = ("price" * ?2), "name" = ?3 WHERE (("stock" > ?4) AND ("sku" LIKE ?5 ESCAPE '\'))
