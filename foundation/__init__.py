"""The bottom layer every other layer may use, and that uses none of them.

What bench, the drivers and the reports share: the error root with its fields
(`errors`), the strict and immutable model base (`models`) and its checks for plain
dataclasses (`checks`), the safe file writer and reader (`files`), and the bounded YAML
reader (`yaml_input`). It imports nothing of bench, runtimes or reports, so an import
contract can name this package once instead of listing its modules.
"""
