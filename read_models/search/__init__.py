"""The product search read model on Elasticsearch: mapping, pure projection, index admin, sink."""

from read_models.search.document import category_prefixes, fold, project
from read_models.search.index import bulk_mode, ensure_index
from read_models.search.mapping import cluster_has_analysis_common, index_body
from read_models.search.sink import SearchSink

__all__ = [
    "SearchSink",
    "bulk_mode",
    "category_prefixes",
    "cluster_has_analysis_common",
    "ensure_index",
    "fold",
    "index_body",
    "project",
]
