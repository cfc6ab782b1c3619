module eventcart/subscribers

go 1.22
