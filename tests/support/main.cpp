#define BOOST_TEST_MODULE folio
#include <boost/test/unit_test.hpp>
